import { RouteMethods } from './method-not-allowed';

describe(RouteMethods.name, () => {
  let sut: RouteMethods;

  beforeEach(() => {
    sut = new RouteMethods();
    sut.add('/v1/spend', 'GET');
    sut.add('/v1/teams/:team/settings', ['PUT']);
    sut.add('/v1/teams/:team/settings', 'GET');
    sut.add('/v1/teams/:team/agents/settings', 'GET');
    sut.add('/docs/*', 'GET');
  });

  it('answers the methods of every route the path matches, with HEAD beside GET and OPTIONS, sorted', () => {
    expect(sut.allowed('/v1/spend')).toEqual(['GET', 'HEAD', 'OPTIONS']);
    expect(sut.allowed('/v1/spend?group_by=agent')).toEqual(['GET', 'HEAD', 'OPTIONS']);
    expect(sut.allowed('/v1/teams/support/settings')).toEqual(['GET', 'HEAD', 'OPTIONS', 'PUT']);
    expect(sut.allowed('/v1/teams/support%2Feu/settings')).toEqual(['GET', 'HEAD', 'OPTIONS', 'PUT']);
    expect(sut.allowed('/docs/swagger-ui.css')).toEqual(['GET', 'HEAD', 'OPTIONS']);
    expect(sut.allowed('/docs/')).toEqual(['GET', 'HEAD', 'OPTIONS']);
  });

  it.each([
    ['/v1/nothing'],
    ['/v1/spend/'],
    ['//v1/spend'],
    ['/v1/Spend'],
    ['/v1/teams//settings'],
    ['/v1/teams/support/settings/extra'],
    ['/v1/teams/support'],
    ['/docs'],
  ])('answers no method for %s, which no route matches', (path) => {
    expect(sut.allowed(path)).toEqual([]);
  });
});
