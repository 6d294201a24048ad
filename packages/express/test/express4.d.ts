// `express4` is the devDependency alias `npm:express@^4` (test/express4.test.ts). Only its default export is used,
// as the module `express` stands for; typed with the installed Express types.
declare module 'express4' {
  import express from 'express';
  export default express;
}
