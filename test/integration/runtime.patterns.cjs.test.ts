import { describePatterns } from '../support/durablePatterns.js';

describePatterns('CommonJS JavaScript', 'patternsCjs');
