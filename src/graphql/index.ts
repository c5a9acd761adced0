// Importing a domain file registers its types on the builder; the order does not matter.
import { lexicographicSortSchema } from "graphql";
import { builder } from "./builder.ts";
import { withSyncNodeIds } from "./node-ids.ts";
import "./scalars.ts";
import "./enums.ts";
import "./gpu-model.ts";
import "./offer.ts";
import "./provider.ts";
import "./auth.ts";
import "./admin.ts";
import "./alerts.ts";
import "./integrations.ts";
import "./subscriptions.ts";
import "./market.ts";
import "./chat.ts";
import "./ranking.ts";
import "./llm.ts";
import "./workload.ts";
import "./assistant.ts";

/** The executable schema, sorted so the printed SDL is stable. */
export const schema = withSyncNodeIds(lexicographicSortSchema(builder.toSchema()));
