// Whether an editor (the BPMN modeler or the form editor) holds changes that are not saved:
// the command stack's top entry differs from the one at the last save, or an imported file has
// not been saved yet. Mixed into both islands; each provides `commandStack()`, `el` and
// `dirtyBadge`, and `t` (its messages).

export const dirtyTracking = {
  topOfStack() {
    const stack = this.commandStack();
    return stack._stack[stack._stackIdx];
  },

  updateDirty() {
    this.dirty = this.unsavedImport || this.topOfStack() !== this.savedTop;
    this.el.dataset.dirty = String(this.dirty);
    this.dirtyBadge.textContent = this.dirty ? this.t.dirty : '';
    this.dirtyBadge.hidden = !this.dirty;
  },

  markSaved(top) {
    this.savedTop = top;
    this.unsavedImport = false;
    this.updateDirty();
  },
};
