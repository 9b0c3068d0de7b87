#!/usr/bin/env node
// The `cloudjobs` command. It is committed executable, so it runs however npm linked it; the
// command line itself is TypeScript, built into dist/ by `npm install` (prepare) or `npm run build`.
import process from 'node:process';
import { main } from '../dist/cli/main.js';

process.exitCode = await main(process.argv.slice(2));
