export * from './json';
export * from './merge';
export * from './capabilities';
export * from './envoyfilter-value';
