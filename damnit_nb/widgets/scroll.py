"""`GridScroller`: scrolls a grid's views in the browser to a row, which ipydatagrid cannot
do from the kernel.

It is an anywidget with no view of its own: its front-end code runs once per browser model
(``initialize``), finds the grid's model through the widget manager and, when told a row,
scrolls the lumino grid of each of its views so that the row is in the middle. Scrolling makes the grid ask
for the rows now in view, as it does when a user scrolls.
"""

from __future__ import annotations

import anywidget
from ipywidgets import DOMWidget, widget_serialization
from traitlets import Instance

__all__ = ["GridScroller"]

_ESM = """
function modelId(ref) {
  return typeof ref === 'string' && ref.startsWith('IPY_MODEL_') ? ref.slice(10) : ref;
}

async function scroll(model, row) {
  const ref = model.get('grid');
  if (!ref) return;
  const grid = await model.widget_manager.get_model(modelId(ref));
  for (const promise of Object.values(grid.views || {})) {
    const view = await promise;
    const lumino = view && view.grid && view.grid.grid;
    if (!lumino) continue;
    if (typeof lumino.rowOffset === 'function' && typeof lumino.scrollTo === 'function') {
      // the row in the middle of the view, not at its edge
      const middle = lumino.rowOffset('body', row) + lumino.rowSize('body', row) / 2;
      lumino.scrollTo(lumino.scrollX, Math.max(0, middle - lumino.pageHeight / 2));
    } else if (typeof lumino.scrollToRow === 'function') {
      lumino.scrollToRow(row);
    }
  }
}

export default {
  initialize({ model }) {
    const onMessage = (msg) => {
      if (msg && Number.isInteger(msg.row)) {
        scroll(model, msg.row).catch((e) => console.warn('damnit_nb: scrolling failed', e));
      }
    };
    model.on('msg:custom', onMessage);
    return () => model.off('msg:custom', onMessage);
  },
};
"""


class GridScroller(anywidget.AnyWidget):
    """Scrolls ``grid`` (a `RunGrid`) to a row in every browser showing it. Not displayed."""

    _esm = _ESM
    grid = Instance(DOMWidget, allow_none=True,
                    help="The grid scrolled").tag(sync=True, **widget_serialization)

    def scroll_to(self, row):
        """Bring ``row`` (in the grid's current order, from 0) into view."""
        self.send({"row": int(row)})
