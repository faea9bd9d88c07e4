// getOriginalDst(fd): reads the pre-NAT destination of a connection redirected by iptables.
#include <node_api.h>
#include <errno.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <linux/netfilter_ipv4.h>

#ifndef IP6T_SO_ORIGINAL_DST
#define IP6T_SO_ORIGINAL_DST 80
#endif

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char msg[160];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_throw_error(env, "ERR_ORIGINAL_DST", msg);
  return NULL;
}

static napi_value get_original_dst(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd = -1;
  if (argc < 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
    napi_throw_type_error(env, NULL, "getOriginalDst(fd): fd must be a non-negative integer");
    return NULL;
  }
  struct sockaddr_storage local;
  socklen_t llen = sizeof local;
  if (getsockname(fd, (struct sockaddr *)&local, &llen) != 0) return throw_errno(env, "getsockname", errno);

  char host[INET6_ADDRSTRLEN];
  int port = 0, family = 4;
  if (local.ss_family == AF_INET6) {
    struct sockaddr_in6 dst;
    socklen_t len = sizeof dst;
    memset(&dst, 0, sizeof dst);
    if (getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, &dst, &len) != 0) {
      // An IPv4 connection on a dual-stack socket: ask the IPv4 table.
      struct sockaddr_in d4;
      socklen_t l4 = sizeof d4;
      if (getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &d4, &l4) != 0) return throw_errno(env, "getsockopt(SO_ORIGINAL_DST)", errno);
      inet_ntop(AF_INET, &d4.sin_addr, host, sizeof host);
      port = ntohs(d4.sin_port);
    } else {
      inet_ntop(AF_INET6, &dst.sin6_addr, host, sizeof host);
      port = ntohs(dst.sin6_port);
      family = 6;
    }
  } else {
    struct sockaddr_in dst;
    socklen_t len = sizeof dst;
    if (getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &dst, &len) != 0) return throw_errno(env, "getsockopt(SO_ORIGINAL_DST)", errno);
    inet_ntop(AF_INET, &dst.sin_addr, host, sizeof host);
    port = ntohs(dst.sin_port);
  }
  napi_value out, v;
  napi_create_object(env, &out);
  napi_create_string_utf8(env, host, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, out, "address", v);
  napi_create_int32(env, port, &v);
  napi_set_named_property(env, out, "port", v);
  napi_create_int32(env, family, &v);
  napi_set_named_property(env, out, "family", v);
  return out;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "getOriginalDst", NAPI_AUTO_LENGTH, get_original_dst, NULL, &fn);
  napi_set_named_property(env, exports, "getOriginalDst", fn);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
