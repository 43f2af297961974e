// The label that says which project a Docker object belongs to: set on what portcullis lets a project create,
// read by the policy, the resolver, prune scoping and the bridge's container list alike.
export const PROJECT_LABEL = 'portcullis.project'
