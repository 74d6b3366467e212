@failure-mode @scenario-mdm-scope-group-miss
Feature: MDM scope group miss
  The MDM user scope is Some (one pilot group) and the user is not in it; the join succeeds without enrollment.
  Guide section: Intune not enrolling

  Scenario: MDM scope group miss: the symptom
    Given the scenario "mdm-scope-group-miss"
    When the user tries to join the PC as the scenario describes
    When the user restarts the PC and signs in with the Entra account
    And I run "dsregcmd /status"
    Then the output shows "AzureAdJoined : YES"
    And the output shows "MdmUrl :"
    And the device is joined
    And the device is not enrolled in Intune

  Scenario: MDM scope group miss: the fix repairs it
    Given the scenario "mdm-scope-group-miss"
    When the user tries to join the PC as the scenario describes
    And the admin applies the scenario's fix
    And the user disconnects if needed and joins again
    And I run "dsregcmd /status"
    Then the output shows "AzureAdJoined : YES"
    And the device is joined
    And the device is enrolled in Intune
