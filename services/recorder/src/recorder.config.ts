import { commonSpec, int, str } from '@libs/config';

export const recorderSpec = {
  ...commonSpec,
  PORT: int(9105, { min: 1, max: 65535 }),
  CONSUMER_GROUP: str('burnrate-recorder'),
};
