import { loadSchemas } from './schemas';
import { RUN_EVENT_FIELDS } from './run';

describe('RunEvent', () => {
  it('lists exactly the fields of schemas/run.avsc, in order', () => {
    const schema = loadSchemas().get('dev.burnrate.v1.RunEvent')!.schema as { fields: { name: string }[] };
    expect(schema.fields.map((f) => f.name)).toEqual(RUN_EVENT_FIELDS);
  });

  it('inlines the run into the priced run so the registered schema is self-contained', () => {
    const priced = loadSchemas().get('dev.burnrate.v1.PricedRun')!.schema as {
      fields: { name: string; type: unknown }[];
    };
    const run = priced.fields.find((f) => f.name === 'run')!.type as { type: string; name: string };
    expect(run).toMatchObject({ type: 'record', name: 'RunEvent' });
  });
});
