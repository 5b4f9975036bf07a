import { commonSpec, int } from '@libs/config';

export const apiSpec = {
  ...commonSpec,
  PORT: int(8080, { min: 1, max: 65535 }),
};
