"""`PointCloud`: many points drawn on a canvas, for plots across thousands of runs.

bqplot draws each point of a scatter as an SVG element, which takes seconds at thousands of
points. A `PointCloud` is an anywidget whose front-end code draws all points on one canvas
(axes, ticks and labels too) and does in the page what the plot's users do with points:
hover for a tooltip (run, x, y), click to select (shift adds), drag a rectangle (brush) or
draw around points (lasso). The kernel sends the points as binary float64 arrays (``x``,
``y``, ``runs``, optionally ``colour`` values, drawn with viridis and a colour bar), and the
browser sends back ``selected``, the indices of the points selected. After each drawing the view sets
``data-points`` (how many points it drew) and ``data-drawn`` (a count) on its element.
"""

from __future__ import annotations

import anywidget
import numpy as np
from traitlets import Bool, Bytes, Enum, Int, List, Unicode

__all__ = ["PointCloud", "SELECT_MODES"]

SELECT_MODES = ("click", "brush", "lasso")

_ESM = r"""
const VIRIDIS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
const MARGIN = {left: 70, right: 20, top: 20, bottom: 50};

function floats(value) {
  if (!value) return new Float64Array(0);
  const view = value instanceof DataView ? value
    : new DataView(value.buffer || value, value.byteOffset || 0, value.byteLength);
  const out = new Float64Array(Math.floor(view.byteLength / 8));
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat64(i * 8, true);
  return out;
}

function extent(values) {
  let lo = Infinity, hi = -Infinity;
  for (const v of values) { if (v < lo) lo = v; if (v > hi) hi = v; }
  if (!isFinite(lo)) return [0, 1];
  if (lo === hi) return [lo - 1, hi + 1];
  const pad = (hi - lo) * 0.05;
  return [lo - pad, hi + pad];
}

function ticks(lo, hi, count) {
  const raw = (hi - lo) / count;
  const power = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) || raw;
  const out = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) {
    out.push(Math.abs(t) < step * 1e-9 ? 0 : t);
  }
  return out;
}

function label(v) {
  return Number.isInteger(v) ? String(v) : String(parseFloat(v.toPrecision(6)));
}

function viridis(t) {
  const x = Math.min(1, Math.max(0, t)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(x)), f = x - i;
  const c = VIRIDIS[i].map((a, k) => Math.round(a + (VIRIDIS[i + 1][k] - a) * f));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

function inside(px, py, polygon) {
  let hit = false;
  for (let i = 0, j = polygon.length - 1; i < polygon.length; j = i++) {
    const [xi, yi] = polygon[i], [xj, yj] = polygon[j];
    if ((yi > py) !== (yj > py) && px < ((xj - xi) * (py - yi)) / (yj - yi) + xi) hit = !hit;
  }
  return hit;
}

function render({ model, el }) {
  el.classList.add('damnit-nb-cloud');
  el.style.position = 'relative';
  const canvas = document.createElement('canvas');
  canvas.style.display = 'block';
  canvas.style.cursor = 'crosshair';
  const tip = document.createElement('div');
  tip.style.cssText = 'position:absolute;display:none;pointer-events:none;background:#fff;'
    + 'border:1px solid #999;padding:2px 6px;font:12px sans-serif;white-space:nowrap';
  el.append(canvas, tip);
  let data = null, scale = null, drag = null, drawn = 0;

  const load = () => {
    const x = floats(model.get('x')), y = floats(model.get('y'));
    const n = Math.min(x.length, y.length);
    const c = floats(model.get('colour'));
    data = {x, y, n, runs: floats(model.get('runs')), colour: c.length === n ? c : null,
            selected: new Set(model.get('selected') || [])};
  };

  const draw = () => {
    const width = Math.max(200, el.clientWidth || 600), height = model.get('height') || 360;
    const ratio = window.devicePixelRatio || 1;
    canvas.width = width * ratio; canvas.height = height * ratio;
    canvas.style.width = width + 'px'; canvas.style.height = height + 'px';
    const g = canvas.getContext('2d');
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, width, height);
    const {x, y, n} = data;
    const [x0, x1] = extent(x.subarray(0, n)), [y0, y1] = extent(y.subarray(0, n));
    const right = MARGIN.right + (data.colour ? 80 : 0);  // room for the colour bar
    const w = width - MARGIN.left - right, h = height - MARGIN.top - MARGIN.bottom;
    const sx = (v) => MARGIN.left + ((v - x0) / (x1 - x0)) * w;
    const sy = (v) => MARGIN.top + h - ((v - y0) / (y1 - y0)) * h;
    scale = {sx, sy};
    g.font = '11px sans-serif'; g.fillStyle = '#666'; g.strokeStyle = '#e6e6e6';
    g.textAlign = 'center'; g.textBaseline = 'top';
    for (const t of ticks(x0, x1, Math.max(2, Math.floor(w / 80)))) {
      g.beginPath(); g.moveTo(sx(t), MARGIN.top); g.lineTo(sx(t), MARGIN.top + h); g.stroke();
      g.fillText(label(t), sx(t), MARGIN.top + h + 4);
    }
    g.textAlign = 'right'; g.textBaseline = 'middle';
    for (const t of ticks(y0, y1, Math.max(2, Math.floor(h / 50)))) {
      g.beginPath(); g.moveTo(MARGIN.left, sy(t)); g.lineTo(MARGIN.left + w, sy(t)); g.stroke();
      g.fillText(label(t), MARGIN.left - 4, sy(t));
    }
    g.strokeStyle = '#333';
    g.strokeRect(MARGIN.left, MARGIN.top, w, h);
    g.fillStyle = '#000'; g.font = '13px sans-serif'; g.textAlign = 'center';
    g.textBaseline = 'bottom';
    g.fillText(model.get('x_label') || '', MARGIN.left + w / 2, height - 4);
    g.save(); g.translate(14, MARGIN.top + h / 2); g.rotate(-Math.PI / 2);
    g.textBaseline = 'top'; g.fillText(model.get('y_label') || '', 0, 0); g.restore();
    let c0 = 0, c1 = 1;
    if (data.colour) [c0, c1] = extent(data.colour);
    const any = data.selected.size > 0;
    g.save(); g.beginPath(); g.rect(MARGIN.left, MARGIN.top, w, h); g.clip();
    for (let i = 0; i < n; i++) {
      if (data.selected.has(i)) continue;
      g.globalAlpha = any ? 0.35 : 0.85;
      g.fillStyle = data.colour ? viridis((data.colour[i] - c0) / (c1 - c0)) : '#1f77b4';
      g.beginPath(); g.arc(sx(x[i]), sy(y[i]), 3, 0, 2 * Math.PI); g.fill();
    }
    g.globalAlpha = 1; g.strokeStyle = '#d62728'; g.lineWidth = 2;
    for (const i of data.selected) {
      if (i >= n) continue;
      g.fillStyle = data.colour ? viridis((data.colour[i] - c0) / (c1 - c0)) : '#1f77b4';
      g.beginPath(); g.arc(sx(x[i]), sy(y[i]), 4, 0, 2 * Math.PI); g.fill(); g.stroke();
    }
    g.restore();
    if (data.colour) {  // the colour bar: the colour variable's range, low at the bottom
      const bx = MARGIN.left + w + 20, bw = 12;
      for (let k = 0; k < h; k++) {
        g.fillStyle = viridis(1 - k / h);
        g.fillRect(bx, MARGIN.top + k, bw, 1);
      }
      g.strokeStyle = '#333'; g.lineWidth = 1; g.strokeRect(bx, MARGIN.top, bw, h);
      g.fillStyle = '#666'; g.font = '11px sans-serif'; g.textAlign = 'left';
      g.textBaseline = 'middle';
      for (const t of ticks(c0, c1, 4)) {
        g.fillText(label(t), bx + bw + 4, MARGIN.top + h - ((t - c0) / (c1 - c0)) * h);
      }
      g.save(); g.translate(bx + bw + 48, MARGIN.top + h / 2); g.rotate(-Math.PI / 2);
      g.fillStyle = '#000'; g.font = '13px sans-serif'; g.textAlign = 'center';
      g.fillText(model.get('colour_label') || '', 0, 0); g.restore();
    }
    if (drag && drag.path.length > 1) {
      g.strokeStyle = '#d62728'; g.fillStyle = 'rgba(214,39,40,0.15)'; g.lineWidth = 1;
      g.beginPath();
      if (drag.mode === 'brush') {
        const [a, b] = [drag.path[0], drag.path[drag.path.length - 1]];
        g.rect(a[0], a[1], b[0] - a[0], b[1] - a[1]);
      } else {
        drag.path.forEach(([px, py], k) => (k ? g.lineTo(px, py) : g.moveTo(px, py)));
        g.closePath();
      }
      g.fill(); g.stroke();
    }
    el.dataset.points = String(n);
    el.dataset.drawn = String(++drawn);
  };

  const at = (event) => {
    const r = canvas.getBoundingClientRect();
    return [event.clientX - r.left, event.clientY - r.top];
  };
  const nearest = ([px, py], within = 6) => {
    let best = -1, bestD = within * within;
    for (let i = 0; i < data.n; i++) {
      const dx = scale.sx(data.x[i]) - px, dy = scale.sy(data.y[i]) - py;
      const d = dx * dx + dy * dy;
      if (d <= bestD) { best = i; bestD = d; }
    }
    return best;
  };
  const choose = (indices) => {
    model.set('selected', Array.from(indices).sort((a, b) => a - b));
    model.save_changes();
  };

  canvas.addEventListener('pointerdown', (event) => {
    drag = {mode: model.get('mode'), path: [at(event)], shift: event.shiftKey};
    canvas.setPointerCapture(event.pointerId);
  });
  canvas.addEventListener('pointermove', (event) => {
    const p = at(event);
    if (drag) {
      if (drag.mode === 'brush') drag.path = [drag.path[0], p]; else drag.path.push(p);
      if (drag.mode !== 'click') requestAnimationFrame(draw);
      return;
    }
    const i = nearest(p);
    if (i < 0) { tip.style.display = 'none'; return; }
    const run = data.runs.length > i ? data.runs[i] : i;
    tip.innerHTML = '';
    const rows = [['Run', run]];
    if (!model.get('x_is_run')) rows.push([model.get('x_label') || 'x', data.x[i]]);
    rows.push([model.get('y_label') || 'y', data.y[i]]);
    for (const [name, value] of rows) {
      const line = document.createElement('div');
      line.textContent = `${name}: ${label(value)}`;
      tip.append(line);
    }
    tip.style.left = (p[0] + 12) + 'px'; tip.style.top = (p[1] + 12) + 'px';
    tip.style.display = 'block';
  });
  canvas.addEventListener('pointerleave', () => { tip.style.display = 'none'; });
  canvas.addEventListener('pointerup', (event) => {
    if (!drag) return;
    const {mode, path, shift} = drag;
    drag = null;
    const end = at(event), start = path[0];
    const moved = Math.hypot(end[0] - start[0], end[1] - start[1]) > 3;
    if (mode === 'click' || !moved) {
      const i = nearest(end);
      const chosen = shift ? new Set(data.selected) : new Set();
      if (i >= 0) { if (shift && chosen.has(i)) chosen.delete(i); else chosen.add(i); }
      choose(chosen);
      return;
    }
    const chosen = [];
    const [ax, bx] = [Math.min(start[0], end[0]), Math.max(start[0], end[0])];
    const [ay, by] = [Math.min(start[1], end[1]), Math.max(start[1], end[1])];
    for (let i = 0; i < data.n; i++) {
      const px = scale.sx(data.x[i]), py = scale.sy(data.y[i]);
      if (mode === 'brush' ? (px >= ax && px <= bx && py >= ay && py <= by)
          : inside(px, py, [...path, end])) chosen.push(i);
    }
    choose(chosen);
  });

  const redraw = () => { load(); draw(); };
  const names = ['x', 'y', 'runs', 'colour', 'selected', 'x_label', 'y_label', 'colour_label',
                 'height'];
  for (const name of names) model.on(`change:${name}`, redraw);
  const observer = new ResizeObserver(() => draw());
  observer.observe(el);
  redraw();
  return () => {
    for (const name of names) model.off(`change:${name}`, redraw);
    observer.disconnect();
  };
}

export default { render };
"""


class PointCloud(anywidget.AnyWidget):
    """Points drawn on a canvas in the browser (see the module's text); `set_points` gives
    them, ``selected`` (indices) is what the browser selected or what is shown selected."""

    _esm = _ESM
    x = Bytes(b"", help="The points' x, float64").tag(sync=True)
    y = Bytes(b"", help="The points' y, float64").tag(sync=True)
    runs = Bytes(b"", help="The run of each point, float64 (for tooltips)").tag(sync=True)
    colour = Bytes(b"", help="Values colouring the points, float64 (empty: one colour)"
                   ).tag(sync=True)
    selected = List(Int(), help="The indices of the points selected").tag(sync=True)
    mode = Enum(SELECT_MODES, "click", help="What a drag does: click, brush or lasso"
                ).tag(sync=True)
    x_label = Unicode("").tag(sync=True)
    x_is_run = Bool(False, help="x is the run number (not repeated in tooltips)").tag(sync=True)
    colour_label = Unicode("", help="What colours the points (the colour bar's label)"
                           ).tag(sync=True)
    y_label = Unicode("").tag(sync=True)
    height = Int(360, help="The height in pixels").tag(sync=True)

    def set_points(self, xs, ys, runs, colours=None):
        """Show these points (arrays of one length), in one message."""
        with self.hold_sync():
            self.x = _float_bytes(xs)
            self.y = _float_bytes(ys)
            self.runs = _float_bytes(runs)
            self.colour = b"" if colours is None else _float_bytes(colours)


def _float_bytes(values):
    return np.ascontiguousarray(values, dtype="<f8").tobytes()
