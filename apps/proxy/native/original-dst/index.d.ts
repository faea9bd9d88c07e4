/** Original destination of a redirected (iptables REDIRECT) TCP connection. */
export interface OriginalDst {
  address: string;
  port: number;
  family: 4 | 6;
}
/** getsockopt(fd, SOL_IP, SO_ORIGINAL_DST) (or IP6T_SO_ORIGINAL_DST for IPv6 sockets). Throws with errno text on failure. */
export function getOriginalDst(fd: number): OriginalDst;
