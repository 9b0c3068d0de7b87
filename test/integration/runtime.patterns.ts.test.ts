import { describePatterns } from '../support/durablePatterns.js';

describePatterns('TypeScript (CommonJS)', 'patternsTs');
