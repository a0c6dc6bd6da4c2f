// Keyboard control of the replay player: the keys act anywhere on the page except while typing in a field.
const actions = { ' ': 'toggle', 'ArrowRight': 'next', 'ArrowLeft': 'previous', 'n': 'next-mark', 'p': 'previous-mark', 'Home': 'first', 'End': 'last' };

export function attach(player) {
    const onKey = event => {
        const action = actions[event.key];
        if (!action || event.ctrlKey || event.metaKey || event.altKey || event.target.closest('input, textarea, select, [role=listbox], [role=combobox]')) {
            return;
        }
        event.preventDefault();
        player.invokeMethodAsync('KeyAsync', action);
    };
    document.addEventListener('keydown', onKey);
    return { detach: () => document.removeEventListener('keydown', onKey) };
}

// The address names the event shown, so it can be shared; replaced, not pushed, so Back leaves the replay.
export function showEvent(sequence) {
    // The whole address: a bare fragment would resolve against <base href="/">, not this page.
    history.replaceState(history.state, '', `${location.pathname}${location.search}#event-${sequence}`);
}
