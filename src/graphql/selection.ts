// What the caller selected below a field, so a resolver can read what is asked for in the same statement
// (offers: the total count and the page's relations with the page) and skip what is not.
import { Kind, type FieldNode, type GraphQLResolveInfo, type SelectionSetNode } from "graphql";

/** The field nodes named `name` directly in the selection sets (fragments and inline fragments expanded). */
function childFields(sets: readonly (SelectionSetNode | undefined)[], name: string, info: GraphQLResolveInfo): FieldNode[] {
  const out: FieldNode[] = [];
  const visit = (set: SelectionSetNode | undefined) => {
    for (const s of set?.selections ?? []) {
      if (s.kind === Kind.FIELD) { if (s.name.value === name) out.push(s); }
      else if (s.kind === Kind.INLINE_FRAGMENT) visit(s.selectionSet);
      else visit(info.fragments[s.name.value]?.selectionSet);
    }
  };
  sets.forEach(visit);
  return out;
}

/** Whether the path of field names (e.g. ["edges", "node", "provider"]) is selected below the current field. */
export function selects(info: GraphQLResolveInfo, path: readonly string[]): boolean {
  let nodes: readonly FieldNode[] = info.fieldNodes;
  for (const name of path) {
    nodes = childFields(nodes.map((n) => n.selectionSet), name, info);
    if (!nodes.length) return false;
  }
  return true;
}

/**
 * The names of the fields selected at the end of the path below the current field (fragments and inline fragments
 * expanded; aliases and directives ignored, so a superset of what runs), e.g. ["edges", "node"] → the node's fields.
 */
export function selectedFieldNames(info: GraphQLResolveInfo, path: readonly string[]): Set<string> {
  let nodes: readonly FieldNode[] = info.fieldNodes;
  for (const name of path) {
    nodes = childFields(nodes.map((n) => n.selectionSet), name, info);
    if (!nodes.length) return new Set();
  }
  const names = new Set<string>();
  const visit = (set: SelectionSetNode | undefined) => {
    for (const s of set?.selections ?? []) {
      if (s.kind === Kind.FIELD) names.add(s.name.value);
      else if (s.kind === Kind.INLINE_FRAGMENT) visit(s.selectionSet);
      else visit(info.fragments[s.name.value]?.selectionSet);
    }
  };
  for (const n of nodes) visit(n.selectionSet);
  return names;
}
