import { ConfigError, bool, int, list, parseConfig, str, url } from './config';

describe(parseConfig.name, () => {
  const spec = {
    PORT: int(8080, { min: 1, max: 65535 }),
    NAME: str(),
    URL: url(),
    ON: bool(false),
    LIST: list(['a']),
  };

  it('applies defaults and parses typed values', () => {
    const sut = parseConfig(spec, { NAME: 'x', URL: 'http://h:1/p', ON: 'yes', LIST: 'b, c' });
    expect(sut).toEqual({ PORT: 8080, NAME: 'x', URL: 'http://h:1/p', ON: true, LIST: ['b', 'c'] });
  });

  it('names every bad variable in one error', () => {
    let caught: unknown;
    try {
      parseConfig(spec, { PORT: '70000', URL: 'not a url', ON: 'maybe' });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const problems = (caught as ConfigError).problems;
    expect(problems).toEqual([
      'PORT must be <= 65535, got 70000',
      'NAME is required',
      'URL must be a URL, got "not a url"',
      'ON must be true or false, got "maybe"',
    ]);
  });

  it('rejects a non-integer', () => {
    expect(() => parseConfig({ N: int(1) }, { N: '1.5' })).toThrow('N must be an integer, got "1.5"');
  });
});
