// Whether a process is serving a Unix socket: the activation server uses it to refuse to replace a live socket
// (another sidecar), `integration check` to report whether the sidecar is answering.
import net from "node:net";

/** True when a connection to `socketPath` is accepted; false on any error (nothing listening, no such file). */
export function socketAnswers(socketPath: string): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const probe = net.createConnection({ path: socketPath });
    probe.once("connect", () => {
      probe.destroy();
      resolve(true);
    });
    probe.once("error", () => resolve(false));
  });
}
