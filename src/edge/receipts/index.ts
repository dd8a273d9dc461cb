/** edge/receipts: durable receipts from gateways to devices (docs/wire-format.md §12). */
export { ReceiptPublisher, type ReceiptPublisherOptions } from './receipt-publisher';
