DROP TABLE relay_position;
DROP TABLE relay_parked;
DROP TABLE job_leases;
