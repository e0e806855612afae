"""What the tests share: databases, servers, the trustee's side, parties, factories and each
area's arrangements. Nothing here is collected as a test (no module is named test_*)."""
