/** Types of dev-server.mjs (for the apps' TypeScript scripts). */
export function parseDevVars(text: string): Record<string, string>;
export function formatDevVars(vars: Record<string, string>): string;
export function devVars(appDir: string, options: { generate: () => Record<string, string>; configNames: string[]; keepOut?: string[] }): Record<string, string>;
export function startWrangler(appDir: string, port: string, vars: Record<string, string>, args?: string[]): import("node:child_process").ChildProcess;
