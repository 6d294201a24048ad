export type {
  Authorization,
  AuthorizeRequest,
  Capture,
  CaptureRequest,
  PaymentOperation,
  PaymentProvider,
  Payout,
  PayoutRequest,
  Refund,
  RefundRequest,
  VoidRequest,
} from './payment-provider.js';
