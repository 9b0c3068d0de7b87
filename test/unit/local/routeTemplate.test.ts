import { describe, expect, it } from 'vitest';
import { compareRoutes, RouteTemplate } from '../../../infra/local/http/routeTemplate.js';

describe('route templates', () => {
  it.each([
    ['api/jobs', 'api/jobs', {}],
    ['api/jobs', 'API/Jobs/', {}],
    ['api/jobs/{id}', 'api/jobs/abc', { id: 'abc' }],
    ['api/jobs/{id}', 'api/jobs/a%20b', { id: 'a b' }],
    ['api/jobs/{id:int}', 'api/jobs/42', { id: '42' }],
    ['api/jobs/{id:int:min(1)}', 'api/jobs/1', { id: '1' }],
    [
      'api/jobs/{id:guid}',
      'api/jobs/0d1d9b7e-4f0a-4a58-9c6f-2b2b5f0a1c3d',
      { id: '0d1d9b7e-4f0a-4a58-9c6f-2b2b5f0a1c3d' },
    ],
    ['api/jobs/{id}/{detail?}', 'api/jobs/1', { id: '1' }],
    ['api/jobs/{id}/{detail?}', 'api/jobs/1/x', { id: '1', detail: 'x' }],
    ['api/jobs/{id}/{detail=summary}', 'api/jobs/1', { id: '1', detail: 'summary' }],
    ['api/files/{*path}', 'api/files/a/b/c.txt', { path: 'a/b/c.txt' }],
    ['api/files/{**path}', 'api/files/a%2Fb/c', { path: 'a/b/c' }],
    ['api/files/{*path}', 'api/files', {}],
    ['api/files/{name}.{ext}', 'api/files/report.final.pdf', { name: 'report.final', ext: 'pdf' }],
    ['api/{slug:regex(^[a-z]+-[0-9]+$)}', 'api/job-12', { slug: 'job-12' }],
    ['api/{code:length(3)}', 'api/abc', { code: 'abc' }],
    ['api/{flag:bool}', 'api/TRUE', { flag: 'TRUE' }],
  ])('should match %s against %s', (template, path, params) => {
    expect(new RouteTemplate(template).match(path)?.params).toEqual(params);
  });

  it.each([
    ['api/jobs', 'api/jobs/1'],
    ['api/jobs/{id}', 'api/jobs'],
    ['api/jobs/{id:int}', 'api/jobs/x'],
    ['api/jobs/{id:int:min(1)}', 'api/jobs/0'],
    ['api/jobs/{id:range(1,10)}', 'api/jobs/11'],
    ['api/jobs/{id:guid}', 'api/jobs/not-a-guid'],
    ['api/{code:length(3)}', 'api/abcd'],
    ['api/{code:alpha}', 'api/abc1'],
    ['api/{slug:regex(^[a-z]+$)}', 'api/ABC-1'],
    ['api/jobs/{id}', 'api/jobs/%E0%A4%A'],
  ])('should not match %s against %s', (template, path) => {
    expect(new RouteTemplate(template).match(path)).toBeUndefined();
  });

  it.each([
    ['api/{*rest}/more', /catch-all parameter must be the last segment/],
    ['api/{id}/{id}', /uses parameter "id" twice/],
    ['api/{id', /unclosed/],
    ['api/{id:nonsense}', /unknown route constraint "nonsense"/],
    ['api/{1bad}', /not a valid route parameter name/],
  ])('should refuse the template %s', (template, message) => {
    expect(() => new RouteTemplate(template)).toThrow(message);
  });

  it('should try literal segments before constrained parameters before plain ones before catch-alls', () => {
    const routes = ['api/{*rest}', 'api/{name}', 'api/{id:int}', 'api/health'].map(
      (t) => new RouteTemplate(t),
    );
    expect(routes.sort(compareRoutes).map((r) => r.template)).toEqual([
      'api/health',
      'api/{id:int}',
      'api/{name}',
      'api/{*rest}',
    ]);
  });
});
