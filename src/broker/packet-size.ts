/**
 * A maximum MQTT packet size for the embedded broker. aedes buffers a whole packet before it
 * looks at it, so a 100 MB publish would sit in memory first; this reads each packet's fixed
 * header as the bytes stream in and cuts the connection as soon as a header announces too much.
 */
import { Duplex } from 'node:stream';

/** Follows MQTT packet boundaries in a byte stream. Pure: feed chunks, get the first oversize length. */
export class PacketSizeGuard {
  private state: 'header' | 'length' | 'body' = 'header';
  private length = 0;
  private multiplier = 1;
  private remaining = 0;

  constructor(private readonly maxBytes: number) {}

  /** The announced length of the first packet in `chunk` that exceeds the limit, or undefined. */
  feed(chunk: Uint8Array): number | undefined {
    let index = 0;
    while (index < chunk.length) {
      if (this.state === 'body') {
        const take = Math.min(this.remaining, chunk.length - index);
        this.remaining -= take;
        index += take;
        if (this.remaining === 0) this.state = 'header';
        continue;
      }
      const byte = chunk[index++] ?? 0;
      if (this.state === 'header') {
        this.state = 'length';
        this.length = 0;
        this.multiplier = 1;
        continue;
      }
      // Remaining length: up to four bytes, seven bits each, least significant first.
      this.length += (byte & 0x7f) * this.multiplier;
      this.multiplier *= 128;
      if (byte & 0x80) continue;
      if (this.length > this.maxBytes) return this.length;
      this.remaining = this.length;
      this.state = this.remaining === 0 ? 'header' : 'body';
    }
    return undefined;
  }
}

/**
 * The socket as aedes should see it: the same bytes both ways, but the connection is destroyed
 * (calling `onOversize`) at the header of a packet larger than `maxBytes`.
 */
export function limitPacketSize(
  socket: Duplex,
  maxBytes: number,
  onOversize: (announcedBytes: number) => void,
): Duplex {
  const guard = new PacketSizeGuard(maxBytes);
  const guarded: Duplex = new Duplex({
    read() {
      socket.resume();
    },
    write(chunk, encoding, callback) {
      socket.write(chunk, encoding, callback);
    },
    // aedes writes a packet in several pieces between cork() and uncork(): hand them to the socket
    // as one write too, or every piece becomes a syscall and a TCP segment of its own (TCP_NODELAY).
    writev(chunks, callback) {
      socket.cork();
      chunks.forEach(({ chunk, encoding }, index) => {
        socket.write(chunk, encoding, index === chunks.length - 1 ? callback : undefined);
      });
      socket.uncork();
    },
    final(callback) {
      socket.end(callback);
    },
    destroy(error, callback) {
      socket.destroy(error ?? undefined);
      callback(error);
    },
  });
  socket.on('data', (chunk: Buffer) => {
    const oversize = guard.feed(chunk);
    if (oversize !== undefined) {
      onOversize(oversize);
      guarded.destroy();
      return;
    }
    if (!guarded.push(chunk)) socket.pause();
  });
  socket.on('end', () => guarded.push(null));
  socket.on('error', (error) => guarded.destroy(error));
  socket.on('close', () => guarded.destroy());
  return guarded;
}
