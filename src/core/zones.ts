/**
 * Zones: named polygons on a camera's picture (photo pixels), each counted on its own from the
 * result engage already receives, without another model run. Declared once here: the REST API
 * validates with these schemas, the store keeps what they accept, the dashboard draws them.
 */
import { z } from 'zod';
import { footPoint, insidePolygon, type Point } from './geometry.js';
import type { ResultMessage } from './messages.js';

/** Most zones one camera may have (each is a retained topic and a Home Assistant sensor). */
export const MAX_ZONES_PER_CAMERA = 16;
/** Most corners one zone's polygon may have. */
export const MAX_ZONE_POINTS = 64;
/** Largest coordinate accepted (photo pixels): far beyond any camera, small enough to stay exact. */
export const MAX_ZONE_COORDINATE = 100_000;

/** A zone's ID: a slug, usable as one MQTT topic level and in a Home Assistant object ID. */
export const zoneIdSchema = z
  .string()
  .min(1, 'a zone ID must not be empty')
  .max(40, 'a zone ID has at most 40 characters')
  .regex(
    /^[a-z0-9](?:[a-z0-9_-]*[a-z0-9])?$/,
    'a zone ID is a slug: lower-case letters, digits, - and _, starting and ending with a letter or digit (e.g. "checkout-2")',
  )
  // Home Assistant's object ID joins camera and zone with "__": a zone ID holding it could fake another's.
  .refine((id) => !id.includes('__'), 'a zone ID must not hold "__"');

const coordinate = z.number().finite().min(0, 'coordinates are photo pixels, not negative').max(MAX_ZONE_COORDINATE);

export const zonePolygonSchema = z
  .array(z.tuple([coordinate, coordinate]))
  .min(3, 'a zone needs at least 3 corners')
  .max(MAX_ZONE_POINTS, `a zone has at most ${MAX_ZONE_POINTS} corners`);

/** What `PUT /api/devices/{id}/zones/{zone}` takes. */
export const zoneBodySchema = z
  .object({
    name: z
      .string()
      .trim()
      .min(1, 'a zone needs a name')
      .max(60, 'a zone name has at most 60 characters')
      // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point.
      .refine((name) => !/[\u0000-\u001f\u007f]/.test(name), 'a zone name must not hold control characters')
      .describe('shown on the dashboard and as the Home Assistant sensor name'),
    polygon: zonePolygonSchema.describe(
      'corners [x, y] in photo pixels (0,0 top-left), in drawing order; a person counts when the bottom-centre of their box lies inside',
    ),
  })
  .strict();
export type ZoneBody = z.infer<typeof zoneBodySchema>;

export interface Zone extends ZoneBody {
  id: string;
}

/** The photo's size in pixels, when the result says it (results from before 2026-12 do not). */
export interface PhotoSize {
  width: number;
  height: number;
}

/**
 * How many people of `result` stand in `polygon`. A detector count: the boxes the count used
 * (results carry only those, after the threshold and the camera's ROI) whose foot-point lies inside;
 * boxes and polygon are both photo pixels, so no photo size is needed. A density count: the heat-map
 * cells whose centre lies inside, summed and rounded; the map covers the whole photo, so this needs
 * the photo's size (`width`/`height` of the result), and is null without it. Null as well for a result
 * with neither boxes nor a map, or a positive count without boxes (a stand-in counter).
 */
export function zoneCount(
  result: Pick<ResultMessage, 'count' | 'detections' | 'heatMap' | 'width' | 'height'>,
  polygon: readonly Point[],
): number | null {
  if (result.heatMap) {
    if (result.width === undefined || result.height === undefined) return null;
    const { cols, rows, values } = result.heatMap;
    const cellWidth = result.width / cols;
    const cellHeight = result.height / rows;
    let sum = 0;
    for (let row = 0; row < rows; row++) {
      for (let col = 0; col < cols; col++) {
        const value = values[row * cols + col] ?? 0;
        if (value > 0 && insidePolygon([(col + 0.5) * cellWidth, (row + 0.5) * cellHeight], polygon)) sum += value;
      }
    }
    return Math.round(sum);
  }
  // No boxes to place: an older or stand-in counter, or a count its correction made from none.
  if (!result.detections || (result.detections.length === 0 && result.count > 0)) return null;
  return result.detections.filter((detection) => insidePolygon(footPoint(detection.box), polygon)).length;
}
