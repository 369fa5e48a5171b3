// Debian's Chromium, headless, as the browser tests drive it (CHROMIUM overrides /usr/bin/chromium).
// The flags keep it off the network it has no business with: background updates, sync, QUIC.
import { chromium } from "playwright-core";

export function launchChromium() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}
