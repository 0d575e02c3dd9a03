export * from 'diffusekit/server';
