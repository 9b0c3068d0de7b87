import { existsSync, readFileSync } from 'node:fs';
import type http from 'node:http';
import path from 'node:path';
import picomatch from 'picomatch';
import sirv from 'sirv';
import { z } from 'zod';

/**
 * The part of `staticwebapp.config.json` the runtime honours, as Azure Static Web Apps reads it:
 * a request that matches no file gets the fallback page (so client-side routes load the app),
 * except paths the `exclude` globs name, which stay 404s; `globalHeaders` go on every answer.
 */
const configSchema = z.looseObject({
  navigationFallback: z
    .object({
      rewrite: z.string().startsWith('/'),
      exclude: z.array(z.string()).optional(),
    })
    .optional(),
  globalHeaders: z.record(z.string(), z.string()).optional(),
});

/** Serves a built site from `root` beside the API, as the Static Web Apps CLI does. */
export interface StaticSite {
  readonly root: string;
  /** Answers a GET or HEAD for a file of the site (or its fallback page); false when it has none. */
  serve(req: http.IncomingMessage, res: http.ServerResponse): Promise<boolean>;
}

/**
 * The site in `root`, configured by its `staticwebapp.config.json` when it has one. Throws, naming
 * the field, when that file is not a valid configuration: a site that would be served differently
 * on Azure must not start.
 */
const AZURE_BLOBS = 'https://*.blob.core.windows.net';

export function staticSite(
  root: string,
  options: {
    /**
     * The origin of the blob endpoint that stands in for Azure Storage: a Content-Security-Policy
     * that lets pages reach `https://*.blob.core.windows.net` lets them reach it too.
     */
    blobOrigin?: () => string | undefined;
  } = {},
): StaticSite {
  const configFile = path.join(root, 'staticwebapp.config.json');
  let config: z.infer<typeof configSchema> = {};
  if (existsSync(configFile)) {
    const parsed = configSchema.safeParse(JSON.parse(readFileSync(configFile, 'utf8')));
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new Error(`${configFile}: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
    }
    config = parsed.data;
  }
  const fallback = config.navigationFallback;
  const excluded = picomatch(fallback?.exclude ?? [], { dot: true });
  // Hashed build assets never change under their name; everything else is checked each time.
  const files = sirv(root, {
    dev: false,
    etag: true,
    gzip: true,
    brotli: true,
    setHeaders: (res, pathname) => {
      const blob = options.blobOrigin?.();
      for (const [name, value] of Object.entries(config.globalHeaders ?? {})) {
        res.setHeader(
          name,
          blob && /^content-security-policy$/i.test(name)
            ? value.replaceAll(AZURE_BLOBS, `${AZURE_BLOBS} ${blob}`)
            : value,
        );
      }
      res.setHeader(
        'Cache-Control',
        pathname.startsWith('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache',
      );
    },
  });
  const page = fallback ? path.join(root, fallback.rewrite) : undefined;
  return {
    root,
    serve: (req, res) =>
      new Promise<boolean>((resolve) => {
        // The configuration is the platform's, not a file of the site: Azure never serves it.
        if (new URL(req.url ?? '/', 'http://site').pathname === '/staticwebapp.config.json') {
          resolve(false);
          return;
        }
        files(req, res, () => {
          const pathname = new URL(req.url ?? '/', 'http://site').pathname;
          if (!page || excluded(pathname.replace(/^\/+/, '')) || excluded(pathname) || !existsSync(page)) {
            resolve(false);
            return;
          }
          // The fallback is the page itself, not a redirect: the browser keeps its URL.
          req.url = fallback!.rewrite;
          files(req, res, () => resolve(false));
          res.once('close', () => resolve(true));
        });
        res.once('close', () => resolve(true));
      }),
  };
}
