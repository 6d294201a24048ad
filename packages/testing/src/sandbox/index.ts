export type { SandboxCallback, SandboxEffects, SandboxFault } from './sandbox-faults.js';
export { httpPaymentProvider, serveSandbox } from './sandbox-http.js';
export { type SandboxOptions, SandboxPaymentProvider } from './sandbox-payment-provider.js';
