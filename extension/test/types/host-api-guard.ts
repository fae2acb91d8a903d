/**
 * Part of every type check of the extension (Lens 6.5.2's and Freelens 1.9.0's declarations):
 * if the host's types stopped resolving, `Renderer` would be `any`, the line below would compile,
 * and the unused `@ts-expect-error` would fail the check instead.
 */
import { Renderer } from "@k8slens/extensions";

export function hostApiGuard(): void {
  // @ts-expect-error a host API that does not exist must not type-check
  Renderer.K8sApi.DoesNotExist.reallyNot(42);
}
