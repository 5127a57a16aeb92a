// @ts-check
// A density count's heat map as SVG cells: drawn over an uploaded photo and as a camera tile's thumbnail.

export const SVG = 'http://www.w3.org/2000/svg';

/**
 * @typedef {{ cols: number, rows: number, values: number[] }} HeatMap
 */

/**
 * One rect per cell holding people (opacity by its share of the peak cell), in a space `width` × `height`.
 * Cells under 5 % of the peak are left out: a faint wash over the whole photo hides it.
 * @param {HeatMap} heat
 * @param {number} width
 * @param {number} height
 */
export function heatCells(heat, width, height) {
  const peak = Math.max(...heat.values, 1e-6);
  const cellWidth = width / heat.cols;
  const cellHeight = height / heat.rows;
  return heat.values.flatMap((value, i) => {
    if (value / peak < 0.05) return [];
    const cell = document.createElementNS(SVG, 'rect');
    const at = {
      x: (i % heat.cols) * cellWidth,
      y: Math.floor(i / heat.cols) * cellHeight,
      width: cellWidth,
      height: cellHeight,
    };
    for (const [name, v] of Object.entries(at)) cell.setAttribute(name, String(v));
    cell.setAttribute('class', 'heat');
    cell.setAttribute('fill-opacity', String(Math.min(0.75, (0.75 * value) / peak)));
    return [cell];
  });
}

/**
 * A small picture of where the latest count's people stood, for a camera tile.
 * @param {HeatMap} heat
 * @param {string} label
 */
export function heatThumbnail(heat, label) {
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', `0 0 ${heat.cols} ${heat.rows}`);
  svg.setAttribute('class', 'heat-thumb');
  svg.setAttribute('role', 'img');
  const people = Math.round(heat.values.reduce((sum, v) => sum + v, 0));
  svg.setAttribute(
    'aria-label',
    `Where the ${people} people of ${label}'s latest count stood (crowd-density heat map)`,
  );
  const title = document.createElementNS(SVG, 'title');
  title.textContent = 'Counted by the crowd-density network: where the people stood';
  svg.replaceChildren(title, ...heatCells(heat, heat.cols, heat.rows));
  return svg;
}
