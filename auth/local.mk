## auth/: users, credentials, access policy (see issue 4)
