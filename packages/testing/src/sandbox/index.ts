export type { SandboxCallback, SandboxEffects, SandboxFault } from './sandbox-faults.js';
export { httpPaymentProvider, serveSandbox } from './sandbox-http.js';
export { SANDBOX_3DS_PAYMENT_METHOD, type SandboxOptions, SandboxPaymentProvider } from './sandbox-payment-provider.js';
