/** Zone counting from a result alone (boxes' foot-points, heat-map cells) and the zone schemas. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Detection, ResultMessage } from '../../src/core/messages.js';
import { resultMessageSchema } from '../../src/core/messages.js';
import { MAX_ZONE_POINTS, zoneBodySchema, zoneCount, zoneIdSchema } from '../../src/core/zones.js';

type Counted = Pick<ResultMessage, 'count' | 'detections' | 'heatMap' | 'width' | 'height'>;

/** The left half of a 640×480 photo. */
const LEFT: Array<[number, number]> = [
  [0, 0],
  [320, 0],
  [320, 480],
  [0, 480],
];
const box = (x1: number, y1: number, x2: number, y2: number, score = 0.9): Detection => ({
  box: [x1, y1, x2, y2],
  score,
});

describe('zoneCount', () => {
  it("counts the boxes whose foot-point (bottom-centre) is inside, whatever the box's top does", () => {
    const result: Counted = {
      count: 3,
      detections: [
        box(10, 10, 110, 300), // foot (60, 300): inside
        box(280, 100, 340, 400), // foot (310, 400): inside although the box crosses the edge
        box(300, 50, 400, 200), // foot (350, 200): outside although its top-left is inside
      ],
    };
    assert.equal(zoneCount(result, LEFT), 2);
    // Boxes and polygon are both photo pixels: the photo's size changes nothing.
    assert.equal(zoneCount({ ...result, width: 640, height: 480 }, LEFT), 2);
  });

  it('counts no one in a zone without boxes when the detector counted no one', () => {
    assert.equal(zoneCount({ count: 0, detections: [] }, LEFT), 0);
  });

  it('is unknown when the count did not come from boxes it can place (a stand-in, an older message)', () => {
    assert.equal(zoneCount({ count: 4, detections: [] }, LEFT), null);
    assert.equal(zoneCount({ count: 4 }, LEFT), null);
  });

  it("sums the heat-map cells whose centre is inside, rounded, over the photo's size", () => {
    // 4 × 2 cells over 640 × 480: centres at x = 80, 240, 400, 560 and y = 120, 360.
    const heatMap = { cols: 4, rows: 2, values: [1.2, 0.9, 5, 5, 0.4, 0.3, 5, 5] };
    const result: Counted = { count: 23, detections: [], heatMap, width: 640, height: 480 };
    assert.equal(zoneCount(result, LEFT), 3); // 1.2 + 0.9 + 0.4 + 0.3 = 2.8
    const right: Array<[number, number]> = [
      [320, 0],
      [640, 0],
      [640, 480],
      [320, 480],
    ];
    assert.equal(zoneCount(result, right), 20);
    // A zone drawn on a differently sized picture of the same camera would not line up: the size matters here.
    // (on 1280 × 960 only the top-left cell's centre, (160, 240), is inside: 1.2).
    assert.equal(zoneCount({ ...result, width: 1280, height: 960 }, LEFT), 1);
  });

  it('is unknown for a density count without the photo size (results from before 2026-12)', () => {
    const heatMap = { cols: 2, rows: 1, values: [3, 4] };
    assert.equal(zoneCount({ count: 7, detections: [], heatMap }, LEFT), null);
  });
});

describe('result messages and the photo size', () => {
  const base = {
    type: 'result',
    version: 1,
    resultId: 'r-1',
    deviceID: '3f0c2a8e-5b1d-4c7a-9e2f-6a8b0c1d2e3f',
    count: 1,
    filePath: 'people-counter-images/image3f0c2a8e-5b1d-4c7a-9e2f-6a8b0c1d2e3f.jpg',
    creationTimestamp: 1795863000,
    superseded: 0,
    batchId: 'b',
    instanceId: 'i',
    model: 'm',
    analysedAt: 1795863001,
    latencyMs: 1000,
  };
  it('accepts a result without width/height (older counters) and one with them', () => {
    assert.ok(resultMessageSchema.safeParse(base).success);
    const sized = resultMessageSchema.parse({ ...base, width: 640, height: 480 });
    assert.deepEqual([sized.width, sized.height], [640, 480]);
    assert.equal(resultMessageSchema.safeParse({ ...base, width: -1, height: 480 }).success, false);
  });
});

describe('zone schemas', () => {
  it('takes slugs as zone IDs and refuses anything that could break a topic, a path or an HA object ID', () => {
    for (const id of ['checkout', 'checkout-2', 'aisle_3', 'a', '0']) assert.ok(zoneIdSchema.safeParse(id).success, id);
    for (const id of ['', 'Checkout', 'a/b', 'a+b', '#', '-a', 'a-', 'a b', '../x', 'a__b', 'x'.repeat(41), 'é']) {
      assert.equal(zoneIdSchema.safeParse(id).success, false, id);
    }
  });

  it('wants a name and 3 to MAX_ZONE_POINTS corners of non-negative pixels, and nothing else', () => {
    const polygon = LEFT;
    assert.ok(zoneBodySchema.safeParse({ name: 'Checkout', polygon }).success);
    const refused = [
      { name: '', polygon },
      { name: '   ', polygon },
      { name: 'x'.repeat(61), polygon },
      { name: 'bell\u0007', polygon },
      { name: 'Two', polygon: polygon.slice(0, 2) },
      { name: 'Many', polygon: Array.from({ length: MAX_ZONE_POINTS + 1 }, (_, i) => [i, i % 7]) },
      { name: 'Negative', polygon: [[-1, 0], ...polygon.slice(1)] },
      { name: 'NaN', polygon: [[Number.NaN, 0], ...polygon.slice(1)] },
      { name: 'Huge', polygon: [[1e9, 0], ...polygon.slice(1)] },
      { name: 'Extra', polygon, mode: 'exclude' },
    ];
    for (const body of refused) assert.equal(zoneBodySchema.safeParse(body).success, false, JSON.stringify(body));
  });
});
