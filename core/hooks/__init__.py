"""What leaves the server: ``webhooks`` (a person's targets, Standard Webhooks signatures, one delivery at a time
within a deadline) and ``egress`` (the only way out: public addresses only, resolved and checked at every send).
Below the job queue, which tells them when a job ends; above the store and the people they answer to."""
