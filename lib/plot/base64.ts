/** Base64 of bytes (for data URIs and Jupyter's image/png), via the runtime's Buffer. */
import { Buffer } from "node:buffer";

export function encodeBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
}
