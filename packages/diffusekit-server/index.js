// diffusekit-server: the server of diffusekit, with the packages it needs as dependencies. The code itself
// ships in diffusekit (diffusekit/server), whose core installs without them.
export * from 'diffusekit/server';
