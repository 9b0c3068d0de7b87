import { describePatterns } from '../support/durablePatterns.js';

describePatterns('ES module JavaScript', 'patternsEsm');
