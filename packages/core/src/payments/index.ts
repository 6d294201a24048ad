export type {
  Authorization,
  AuthorizeRequest,
  Capture,
  CaptureRequest,
  PaymentOperation,
  PaymentProvider,
  PayoutRequest,
  ProviderPayout,
  Refund,
  RefundRequest,
  VoidRequest,
} from './payment-provider.js';
