/** An error the local Batch service answers with, in Batch's error body shape. */
export class BatchServiceError extends Error {
  override readonly name = 'BatchServiceError';

  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly values: Array<{ key: string; value: string }> = [],
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }

  /** The JSON body Batch sends: `code`, a localized `message`, and `values` naming what was wrong. */
  body(requestId: string): Record<string, unknown> {
    return {
      'odata.metadata':
        'https://batch.local/$metadata#Microsoft.Azure.Batch.Protocol.Entities.Container.errors/@Element',
      code: this.code,
      message: {
        lang: 'en-US',
        value: `${this.message}\nRequestId:${requestId}\nTime:${new Date().toISOString()}`,
      },
      ...(this.values.length > 0 ? { values: this.values } : {}),
    };
  }
}

export const invalidProperty = (property: string, reason: string) =>
  new BatchServiceError(
    400,
    'InvalidPropertyValue',
    'The value provided for one of the properties in the request body is invalid.',
    [
      { key: 'PropertyName', value: property },
      { key: 'Reason', value: reason },
    ],
  );

export const missingProperty = (property: string) =>
  new BatchServiceError(
    400,
    'MissingRequiredProperty',
    'A required property was not specified in the request body.',
    [{ key: 'PropertyName', value: property }],
  );

export const notFound = (code: 'JobNotFound' | 'PoolNotFound' | 'TaskNotFound', what: string) =>
  new BatchServiceError(404, code, `The specified ${what} does not exist.`);
