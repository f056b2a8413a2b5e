
,
aPlaceholder*
shape:*
dtype0
,
bPlaceholder*
shape:*
dtype0

mulMulab*
T0"ª