/** A one-line progress bar on stderr (only when stderr is a terminal; otherwise a line every 10 %). */

export function progressBar(total: number, label: string): { update(done: number): void; finish(): void } {
  const started = Date.now();
  const tty = process.stderr.isTTY;
  let lastDecile = -1;
  return {
    update(done) {
      const fraction = total > 0 ? done / total : 1;
      const rate = done / Math.max(0.001, (Date.now() - started) / 1000);
      if (tty) {
        const width = 30;
        const filled = Math.round(fraction * width);
        process.stderr.write(
          `\r${label} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${done}/${total} ${rate.toFixed(2)} photos/s `,
        );
      } else if (Math.floor(fraction * 10) > lastDecile) {
        lastDecile = Math.floor(fraction * 10);
        process.stderr.write(`${label} ${done}/${total} (${rate.toFixed(2)} photos/s)\n`);
      }
    },
    finish() {
      if (tty) process.stderr.write('\n');
    },
  };
}
