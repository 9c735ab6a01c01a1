/**
 * `npm run -w apps/todo-stores token -- <userId> [orgId] [--ttl <seconds>]`: prints a bearer token
 * for the local TOKEN_SECRET (from the environment, else .dev.vars).
 */
import { Command } from "commander";
import { z } from "zod";
import { signToken } from "../src/auth.js";
import { idSchema } from "../src/store-key.js";
import { checked, setting } from "./local.js";

const program = new Command("token")
  .description("print a bearer token for a user (and org) of the local deployment")
  .argument("<userId>")
  .argument("[orgId]")
  .option("--ttl <seconds>", "lifetime in seconds", "2592000")
  .action(async (userId: string, orgId: string | undefined, options: { ttl: string }) => {
    const secret = setting("TOKEN_SECRET");
    if (!secret) {
      console.error("no TOKEN_SECRET: start the app once (npm run -w apps/todo-stores start) or set it in the environment");
      process.exit(2);
    }
    const ref = { userId: checked(idSchema, userId, "userId"), ...(orgId === undefined ? {} : { orgId: checked(idSchema, orgId, "orgId") }) };
    const ttl = checked(z.coerce.number().int().min(60).max(365 * 86_400), options.ttl, "--ttl");
    console.log(await signToken(secret, ref, ttl));
  });
await program.parseAsync();
