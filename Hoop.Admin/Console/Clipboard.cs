using Microsoft.JSInterop;

namespace Hoop.Admin.Console;

/// <summary>The browser's clipboard, for the copy buttons.</summary>
public static class Clipboard
{
    /// <summary>
    /// Writes <paramref name="text"/> to the clipboard; false when the browser refuses (no permission, the page not
    /// focused), and the text stays on the page to select.
    /// </summary>
    public static async Task<bool> CopyAsync(this IJSRuntime js, string text)
    {
        try
        {
            await js.InvokeVoidAsync("navigator.clipboard.writeText", text);
            return true;
        }
        catch (JSException)
        {
            return false;
        }
    }
}
