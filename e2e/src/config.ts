/** Istio config the scenarios apply, as plain YAML (what a user would `kubectl apply`). */

/** The todolist VirtualService on the gateway with the given v1/v2 weights (caller routes kept). */
export function todolistCanary(v1: number, v2: number): string {
  return `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: todolist
  namespace: default
spec:
  hosts: ["*"]
  gateways: [tsmesh-gateway]
  http:
    - name: caller
      match:
        - uri:
            prefix: /caller/
      route:
        - destination:
            host: caller-service
            subset: v1
            port:
              number: 8090
    - name: todolist-canary
      route:
        - destination:
            host: todolist
            subset: v1
            port:
              number: 8000
          weight: ${v1}
        - destination:
            host: todolist
            subset: v2
            port:
              number: 8000
          weight: ${v2}
`;
}
