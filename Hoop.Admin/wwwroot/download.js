// Saves what the server streams as a file the browser downloads.
export async function save(name, type, stream) {
    const blob = new Blob([await stream.arrayBuffer()], { type });
    const url = URL.createObjectURL(blob);
    const link = Object.assign(document.createElement('a'), { href: url, download: name });
    link.click();
    // Released once the download has taken it.
    setTimeout(() => URL.revokeObjectURL(url), 10000);
}
