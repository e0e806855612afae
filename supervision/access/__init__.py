"""Who is calling and what they may do: the actor and its scope, principals and their
tokens, the authority policy, and the audit trail of every write."""
