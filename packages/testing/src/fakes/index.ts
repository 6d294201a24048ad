export { httpPaymentServiceClient, serveFakePaymentService } from './fake-payment-http.js';
export {
  type FakeCharge,
  type FakeChargeRequest,
  type FakeEffects,
  type FakeFault,
  type FakeOperation,
  FakePaymentService,
  type FakePaymentServiceOptions,
  type FakeRefund,
  type FakeRefundRequest,
  type Gate,
  type PaymentServiceClient,
} from './fake-payment-service.js';
