DROP TABLE project_keks;
DROP TABLE secrets;
